//! `wit/secrets` declares exactly the operations of `secrets_interface::ops::ALL`.

#[test]
fn wit_and_rust_declare_the_same_operations() {
    wit_ops::assert_agree(&["secrets"], &secrets_interface::ops::ALL);
}
