//! Prints the SDK's actual struct layout as `struct field offset size` lines
//! (`field` is `-` for the struct's own size). tests/test_sdk_rust.py compares it with abi.py.

fn main() {
    algo_sdk::abi::visit_layout(&mut |name, field, offset, size| {
        println!("{} {} {} {}", name, if field.is_empty() { "-" } else { field }, offset, size);
    });
}
