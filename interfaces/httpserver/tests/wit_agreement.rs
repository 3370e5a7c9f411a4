//! `wit/httpserver` declares exactly the operations of `httpserver_interface::ops::ALL`.

#[test]
fn wit_and_rust_declare_the_same_operations() {
    wit_ops::assert_agree(&["httpserver"], &httpserver_interface::ops::ALL);
}
