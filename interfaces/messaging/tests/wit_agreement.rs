//! `wit/messaging` declares exactly the operations of `messaging_interface::ops::ALL`.

#[test]
fn wit_and_rust_declare_the_same_operations() {
    wit_ops::assert_agree(&["messaging"], &messaging_interface::ops::ALL);
}
