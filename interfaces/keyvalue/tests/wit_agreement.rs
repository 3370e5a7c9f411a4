//! `wit/keyvalue` and `wit/wasi-keyvalue-wire` declare exactly the operations of `keyvalue_interface::ops::ALL`.

#[test]
fn wit_and_rust_declare_the_same_operations() {
    wit_ops::assert_agree(
        &["keyvalue", "wasi-keyvalue-wire"],
        &keyvalue_interface::ops::ALL,
    );
}
