//! The HTTP server (`rootlab serve`): a JSON REST API under `/api/v1` in front of the worker pool,
//! plus `/livez`, `/readyz`, `/healthz`, `/metrics`, the OpenAPI document, and the browser
//! playground at `/`.

mod caching;
mod config;
mod docs_page;
pub mod error;
mod extract;
mod health;
pub mod images;
mod logging;
pub mod metrics;
mod openapi;
mod presets;
mod ratelimit;
mod request_id;
pub mod runs;
mod selftest;
mod static_files;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, OriginalUri, Request};
use axum::http::{HeaderValue, Method};
use axum::middleware::{from_fn, from_fn_with_state, map_request};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, delete, get, post};
use axum::Router;
use rootlab_shared::Limits;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::trace::TraceLayer;

pub use config::{HttpSettings, LimitArgs, ServeArgs};
pub use health::SandboxCapabilities;
pub use logging::LogFormat;
pub use selftest::{SelfTest, SelfTestState};

use crate::coordinator::{Coordinator, PoolConfig};
use error::{AppError, ErrorCode};

/// What every handler can reach. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub coordinator: Coordinator,
    pub limits: Arc<Limits>,
    pub metrics: Arc<metrics::HttpMetrics>,
    rate_limiter: Arc<ratelimit::RateLimiter>,
    capabilities: SandboxCapabilities,
    /// The cached sandbox self-test; nothing runs it until `start_self_test`.
    pub self_test: Arc<SelfTest>,
    openapi: Arc<String>,
    docs_html: Arc<String>,
    settings: Arc<HttpSettings>,
    /// The image store and what the operator allows with it; `None` in router tests.
    pub images: Option<Arc<images::ImageService>>,
}

impl AppState {
    pub fn new(coordinator: Coordinator, settings: HttpSettings) -> Self {
        let openapi = openapi::document();
        AppState {
            limits: Arc::new(coordinator.config().limits.clone()),
            coordinator,
            metrics: Arc::default(),
            rate_limiter: Arc::new(ratelimit::RateLimiter::new(
                settings.rate_limit,
                settings.rate_burst,
            )),
            capabilities: SandboxCapabilities::probe(),
            self_test: Arc::default(),
            docs_html: Arc::new(docs_page::render(&openapi)),
            openapi: Arc::new(openapi),
            settings: Arc::new(settings),
            images: None,
        }
    }

    /// Serve the image store too (`/api/v1/images`), with what the operator allows.
    pub fn with_images(mut self, images: images::ImageService) -> Self {
        self.images = Some(Arc::new(images));
        self
    }

    /// Run the sandbox self-test now and every `interval` in the background (for `/readyz`).
    pub fn start_self_test(&self, interval: Duration) {
        self.self_test
            .clone()
            .spawn(self.coordinator.clone(), interval);
    }
}

/// The whole application; used by `serve` and by the tests.
pub fn app(state: AppState) -> Router {
    let settings = state.settings.clone();
    let router = Router::new()
        .nest("/api/v1", api_v1(state.clone()))
        .route("/api", any(api_not_found))
        .route("/api/{*rest}", any(api_not_found))
        .route("/livez", get(health::livez))
        .route("/readyz", get(health::readyz))
        .route("/healthz", get(health::healthz))
        .route("/metrics", get(metrics::metrics))
        .merge(static_files::router(settings.static_dir.clone()))
        .layer(DefaultBodyLimit::max(settings.body_limit))
        .layer(CompressionLayer::new())
        .layer(from_fn_with_state(state.clone(), metrics::count))
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(TraceLayer::new_for_http().make_span_with(request_id::span))
        .layer(request_id::propagate_layer())
        .layer(request_id::set_layer())
        .layer(map_request(request_id::drop_unusable));
    let router = match cors(settings.cors_origin.as_deref()) {
        Some(cors) => router.layer(cors),
        None => router,
    };
    router.with_state(state)
}

fn api_v1(state: AppState) -> Router<AppState> {
    // An upload is buffered whole: only as large as the operator allows.
    let import_limit = state
        .images
        .as_ref()
        .and_then(|i| i.import_limit)
        .unwrap_or(state.settings.body_limit);
    // Documents that change only with the binary: ETag and revalidation.
    let documents = Router::new()
        .route("/presets", get(presets::list))
        .route("/presets/{id}", get(presets::get_one))
        .route("/openapi.json", get(openapi::json))
        .route("/docs", get(docs_page::page))
        .route_layer(from_fn(caching::api_document));
    Router::new()
        .merge(documents)
        .route("/presets/{id}/run", post(runs::run_preset))
        .route("/validate", post(runs::validate))
        .route("/run", post(runs::run))
        .route("/run/stream", post(runs::run_stream))
        .route("/runs/{run_id}", delete(runs::cancel))
        .route("/images", get(images::list))
        .route("/images/pull", post(images::pull))
        .route(
            "/images/import",
            post(images::import).layer(DefaultBodyLimit::max(import_limit)),
        )
        .route("/images/{name}", get(images::inspect))
        .route(
            "/images/{name}/layers",
            get(images::layers).post(images::layers_with_upper),
        )
        .fallback(api_not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(from_fn_with_state(state, ratelimit::limit))
}

async fn api_not_found(req: Request) -> AppError {
    AppError::not_found(format!(
        "no such endpoint: {} {}",
        req.method(),
        full_path(&req)
    ))
}

async fn method_not_allowed(req: Request) -> AppError {
    AppError::new(
        ErrorCode::MethodNotAllowed,
        format!("{} is not allowed on {}", req.method(), full_path(&req)),
    )
}

/// The path as the client sent it (a nested router sees it without its prefix).
fn full_path(req: &Request) -> String {
    match req.extensions().get::<OriginalUri>() {
        Some(OriginalUri(uri)) => uri.path().to_string(),
        None => req.uri().path().to_string(),
    }
}

fn panic_response(_panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("a handler panicked");
    AppError::new(ErrorCode::Internal, "internal error").into_response()
}

fn cors(origin: Option<&str>) -> Option<CorsLayer> {
    let origin = origin?;
    let allow = if origin == "*" {
        AllowOrigin::any()
    } else {
        AllowOrigin::exact(HeaderValue::from_str(origin).ok()?)
    };
    Some(
        CorsLayer::new()
            .allow_origin(allow)
            .allow_methods([Method::GET, Method::POST, Method::DELETE])
            .allow_headers([
                axum::http::header::CONTENT_TYPE,
                axum::http::HeaderName::from_static(runs::CANCEL_TOKEN_HEADER),
                axum::http::HeaderName::from_static(request_id::HEADER),
            ])
            .expose_headers([
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderName::from_static(runs::RUN_ID_HEADER),
                axum::http::HeaderName::from_static(runs::CANCEL_TOKEN_HEADER),
                axum::http::HeaderName::from_static(request_id::HEADER),
            ]),
    )
}

/// The store the workers run images from, and what the operator lets requests do with it.
fn image_service(args: &ServeArgs) -> anyhow::Result<images::ImageService> {
    let cfg = crate::config::EngineConfig::from_env();
    let store = crate::store::Store::open(&cfg).map_err(|e| {
        anyhow::anyhow!(
            "opening the image store in {}: {e}",
            cfg.state_dir.display()
        )
    })?;
    Ok(images::ImageService {
        store: Arc::new(store),
        allow_registries: args.allow_registry.clone(),
        insecure_registries: args.insecure_registry.clone(),
        import_limit: args.allow_import,
    })
}

/// `rootlab serve`.
pub fn serve(args: ServeArgs) -> anyhow::Result<()> {
    logging::init(args.log_format);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(serve_async(args))
}

async fn serve_async(args: ServeArgs) -> anyhow::Result<()> {
    let pool = PoolConfig {
        worker: args.worker_path(),
        size: args.workers(),
        queue: args.queue,
        limits: args.limits.to_limits(),
        run_timeout: args.run_timeout(),
        allow_commit: args.allow_commit,
    };
    if pool.run_timeout.as_millis() <= u128::from(pool.limits.wall_ms) {
        // The sandbox's own wall limit should end a run first, with a result saying so.
        tracing::warn!(
            "--run-timeout ({:?}) is not above --wall-ms ({} ms): long runs end as 504 timeouts",
            pool.run_timeout,
            pool.limits.wall_ms
        );
    }
    tracing::info!(worker = %pool.worker.display(), workers = pool.size, "starting workers");
    let coordinator = Coordinator::start(pool).await;
    let listener = tokio::net::TcpListener::bind(args.addr).await?;
    let addr = listener.local_addr()?;
    // Scripts that start the server on port 0 read the chosen address from this line.
    println!("rootlab listening on http://{addr}");
    let state = AppState::new(coordinator.clone(), args.http()).with_images(image_service(&args)?);
    state.start_self_test(args.self_test_interval());
    let grace = args.shutdown_grace();
    let stopping = coordinator.clone();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel();
    let shutdown = async move {
        shutdown_signal().await;
        tracing::info!("shutting down: no new runs, {grace:?} for running ones");
        // Runs are finished or cancelled while axum stops accepting and drains connections.
        let _ = stop_tx.send(tokio::spawn(async move { stopping.shutdown(grace).await }));
    };
    axum::serve(
        listener,
        app(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await?;
    if let Ok(stopping) = stop_rx.await {
        let _ = stopping.await;
    }
    // Connections are closed; make sure no worker outlives the server.
    coordinator.shutdown(Duration::ZERO).await;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("can listen for SIGTERM");
    tokio::select! {
        _ = ctrl_c => {}
        _ = term.recv() => {}
    }
}
