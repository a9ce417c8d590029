"""The algorithm runtimes: the ABI, the WASM host over wasmtime's C API, and the router that fans book updates out to instances."""
