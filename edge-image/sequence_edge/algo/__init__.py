"""The algorithm runtimes of the edge: the WASM host and the native (.so) loader."""
