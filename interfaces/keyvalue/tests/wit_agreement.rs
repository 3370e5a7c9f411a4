//! `wit/keyvalue` and `wit/wasi-keyvalue` declare exactly the operations of `keyvalue_interface::ops::ALL`.

#[test]
fn wit_and_rust_declare_the_same_operations() {
    wit_ops::assert_agree(
        &["keyvalue", "wasi-keyvalue"],
        &keyvalue_interface::ops::ALL,
    );
}
