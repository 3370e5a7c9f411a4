//! `wit/httpserver` declares exactly the operations of `httpserver::ops::ALL`.

#[test]
fn wit_and_rust_declare_the_same_operations() {
    wit_ops::assert_agree(&["httpserver"], &httpserver::ops::ALL);
}
