/** Keeps the last `limit` characters of a process's output and reports complete lines. */
export class LogBuffer {
  private readonly chunks: string[] = [];
  private size = 0;
  private partial = "";
  private readonly lineListeners = new Set<(line: string) => void>();

  constructor(private readonly limit = 200 * 1024) {}

  append(text: string): void {
    if (text === "") return;
    this.chunks.push(text);
    this.size += text.length;
    while (this.size > this.limit && this.chunks.length > 1) {
      this.size -= this.chunks.shift()?.length ?? 0;
    }
    if (this.size > this.limit && this.chunks.length === 1) {
      const only = this.chunks[0] ?? "";
      this.chunks[0] = only.slice(only.length - this.limit);
      this.size = this.chunks[0].length;
    }
    if (this.lineListeners.size === 0) {
      this.partial = "";
      return;
    }
    const lines = (this.partial + text).split("\n");
    this.partial = lines.pop() ?? "";
    for (const line of lines) for (const listener of this.lineListeners) listener(line);
  }

  /** Returns an unsubscribe function. */
  onLine(listener: (line: string) => void): () => void {
    this.lineListeners.add(listener);
    return () => this.lineListeners.delete(listener);
  }

  text(): string {
    if (this.chunks.length > 1) {
      const joined = this.chunks.join("");
      this.chunks.length = 0;
      this.chunks.push(joined);
    }
    return this.chunks[0] ?? "";
  }
}
