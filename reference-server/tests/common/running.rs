//! The server in-process: [`build_app`] + [`serve`] on 127.0.0.1:0.

use std::net::SocketAddr;
use std::time::Duration;

use authkit_server::{App, ServerConfig, build_app, serve};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A running server; dropping the sender stops it.
pub(crate) struct Running {
    /// `http://127.0.0.1:<port>`.
    pub(crate) base: String,
    /// The app being served.
    pub(crate) app: App,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), authkit_server::ServerError>>,
}

impl Running {
    /// Builds the app from `config` and serves it on 127.0.0.1:0.
    pub(crate) async fn start(config: ServerConfig) -> Self {
        let app = build_app(config).await.unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(serve(listener, app.clone(), async {
            let _ = stopped.await;
        }));
        Self {
            base: format!("http://{addr}"),
            app,
            stop: Some(stop),
            task,
        }
    }

    /// Sends the shutdown signal and waits (up to 20 s) for `serve` to return `Ok`.
    pub(crate) async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        tokio::time::timeout(Duration::from_secs(20), self.task)
            .await
            .expect("the server stops after the shutdown signal")
            .unwrap()
            .unwrap();
    }
}
