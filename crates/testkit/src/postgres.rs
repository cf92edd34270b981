//! A PostgreSQL database made for one test (`127.0.0.1:5432`, trust auth, user `root`) and
//! dropped when the guard goes. Made and dropped with `psql`, so sync and async tests share it
//! and no database client is compiled into the test support.

use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::skip;

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A fresh, empty PostgreSQL database, dropped (with any connections left open) on drop.
#[derive(Debug)]
pub struct PgDatabase {
    name: String,
    /// An ordinary role made the database's owner ([`PgDatabase::ordinary_owner_url`]).
    owner: Option<String>,
}

fn psql(sql: &str) -> bool {
    Command::new("psql")
        .args([
            "-h",
            "127.0.0.1",
            "-U",
            "root",
            "-d",
            "postgres",
            "-qc",
            sql,
        ])
        .output()
        .is_ok_and(|o| o.status.success())
}

impl PgDatabase {
    /// Creates one for `test`, or reports the skip (see [`skip`]) and answers `None` when
    /// PostgreSQL is not reachable.
    ///
    /// # Panics
    /// Under `CI=true` when PostgreSQL is not reachable.
    #[must_use]
    pub fn create(test: &str) -> Option<Self> {
        let name = format!(
            "openbell_t_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        );
        if psql(&format!("CREATE DATABASE {name}")) {
            Some(Self { name, owner: None })
        } else {
            skip(
                &format!("{test} on PostgreSQL"),
                "PostgreSQL (psql) is not reachable at 127.0.0.1:5432",
            );
            None
        }
    }

    /// Its name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its connection URL.
    #[must_use]
    pub fn url(&self) -> String {
        format!("postgres://root@127.0.0.1:5432/{}", self.name)
    }

    /// Makes an ordinary role (no superuser) the database's owner and answers its connection
    /// URL; with `may_set_replication_role` it is granted `SET` on `session_replication_role`
    /// (PostgreSQL 15 and later). The role is dropped with the database.
    ///
    /// # Panics
    /// When the role cannot be made or granted.
    #[must_use]
    pub fn ordinary_owner_url(&mut self, may_set_replication_role: bool) -> String {
        let role = format!("{}_owner", self.name);
        assert!(
            psql(&format!("CREATE ROLE {role} LOGIN NOSUPERUSER")),
            "creating role {role}"
        );
        if may_set_replication_role {
            assert!(
                psql(&format!(
                    "GRANT SET ON PARAMETER session_replication_role TO {role}"
                )),
                "granting {role} SET on session_replication_role"
            );
        }
        self.owner = Some(role.clone());
        assert!(
            psql(&format!("ALTER DATABASE {} OWNER TO {role}", self.name)),
            "giving {} to {role}",
            self.name
        );
        format!("postgres://{role}@127.0.0.1:5432/{}", self.name)
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        psql(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ));
        if let Some(role) = &self.owner {
            psql(&format!(
                "REVOKE SET ON PARAMETER session_replication_role FROM {role}"
            ));
            psql(&format!("DROP ROLE IF EXISTS {role}"));
        }
    }
}
