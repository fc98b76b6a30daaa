#!/usr/bin/env python3
"""Regenerates attachment.json without Node: AES-256-CBC from the `openssl` command line, HMAC and
SHA-256 from Python's standard library. The vectors check the TypeScript implementation against
an independent one; run `python3 generate.py > attachment.json` only to add cases."""
import hashlib, hmac, json, subprocess

def aes_cbc(key: bytes, iv: bytes, plain: bytes) -> bytes:
    return subprocess.run(["openssl", "enc", "-aes-256-cbc", "-K", key.hex(), "-iv", iv.hex()],
                          input=plain, capture_output=True, check=True).stdout

def pattern(n: int, mul: int, add: int) -> bytes:
    return bytes((i * mul + add) & 0xFF for i in range(n))

def case(name, key, iv, plain, full=True, spec=None):
    body = aes_cbc(key[:32], iv, plain)
    mac = hmac.new(key[32:], iv + body, hashlib.sha256).digest()
    ct = iv + body + mac
    out = {"name": name, "key": key.hex(), "iv": iv.hex()}
    if spec is None:
        out["plaintext"] = plain.hex()
    else:
        out["plaintextPattern"] = spec
    out["ciphertextLength"] = len(ct)
    if full:
        out["ciphertext"] = ct.hex()
    else:
        out["ciphertextHead"] = ct[:64].hex()
        out["ciphertextTail"] = ct[-64:].hex()
    out["mac"] = mac.hex()
    out["digest"] = hashlib.sha256(ct).hexdigest()
    return out

seq_key = bytes(range(64))
seq_iv = bytes(range(0xF0, 0x100))
k2 = bytes.fromhex("8f1c2ad0b7e64a9935c0e1d27a6b4f3098d1e2c3b4a5968778695a4b3c2d1e0f"
                   "0123456789abcdeffedcba987654321000112233445566778899aabbccddeeff")
iv2 = bytes.fromhex("a3b2c1d0e9f8071625344352617f8e9d")
cases = [
    case("empty", seq_key, seq_iv, b""),
    case("one byte", seq_key, seq_iv, b"\x00"),
    case("15 bytes", k2, iv2, pattern(15, 7, 3)),
    case("one block", k2, iv2, pattern(16, 7, 3)),
    case("17 bytes", k2, iv2, pattern(17, 7, 3)),
    case("text", seq_key, seq_iv, "interlink".encode()),
    case("utf-8 text", k2, iv2, "Grüße, 世界 — 🎙️".encode()),
    case("1000 bytes", k2, iv2, pattern(1000, 31, 7)),
    case("300000 bytes", k2, iv2, pattern(300000, 31, 7), full=False, spec={"length": 300000, "mul": 31, "add": 7}),
]
print(json.dumps({
    "format": "Signal attachment: IV(16) || AES-256-CBC/PKCS#7(plaintext, key[0:32]) || HMAC-SHA256(key[32:64], IV || body)(32); digest = SHA-256(whole ciphertext)",
    "generator": "generate.py (openssl enc + Python hashlib/hmac)",
    "plaintextPattern": "byte i = (i * mul + add) & 0xff",
    "cases": cases,
}, indent=2))
