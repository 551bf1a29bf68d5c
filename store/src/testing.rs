//! Test support: a fresh PostgreSQL database per test on the `TEST_POSTGRES_URL` server.
//!
//! Used by this crate's store suite and by the `tests` crate; never by the server itself.

/// A database created for one test and dropped (with its connections) afterwards.
pub struct FreshPostgres {
    admin_url: String,
    name: String,
    url: String,
}

impl FreshPostgres {
    /// Creates a fresh database, or says the PostgreSQL tests are skipped and returns `None`
    /// when `TEST_POSTGRES_URL` is not set. Panics (it is test support) when the server is set
    /// but unusable, so a misconfigured CI fails loudly instead of skipping.
    #[allow(clippy::expect_used)]
    pub async fn create() -> Option<Self> {
        let Ok(admin_url) = std::env::var("TEST_POSTGRES_URL") else {
            eprintln!("skipped: TEST_POSTGRES_URL is not set, so PostgreSQL is not tested");
            return None;
        };
        let name = format!("riskdeck_test_{}_{}", std::process::id(), fastrand::u64(..));
        let admin = sqlx::PgPool::connect(&admin_url)
            .await
            .expect("connect to TEST_POSTGRES_URL");
        sqlx::query(&format!("CREATE DATABASE \"{name}\""))
            .execute(&admin)
            .await
            .expect("create a test database");
        admin.close().await;
        let mut url = url::Url::parse(&admin_url).expect("TEST_POSTGRES_URL is a URL");
        url.set_path(&name);
        Some(Self {
            admin_url,
            name,
            url: url.to_string(),
        })
    }

    /// The URL of the fresh database.
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for FreshPostgres {
    fn drop(&mut self) {
        let admin_url = self.admin_url.clone();
        let name = self.name.clone();
        // Drop cannot await: drop the database from a thread with its own runtime.
        let _ = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async {
                if let Ok(pool) = sqlx::PgPool::connect(&admin_url).await {
                    let sql = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
                    let _ = sqlx::query(&sql).execute(&pool).await;
                }
            });
        })
        .join();
    }
}
