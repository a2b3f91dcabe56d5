//! Entry point of the browser playground: mounts the Yew app.
fn main() {
    rootlab_frontend::start();
}
