#!/usr/bin/env node
// The CLI is compiled by `tsc -b`; this shim stays stable so the workspace bin link exists before the first build.
import { main } from "../dist/src/main.js";
main(process.argv.slice(2)).then((code) => { process.exitCode = code; });
