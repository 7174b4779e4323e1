//! Test support: a throwaway PostgreSQL cluster on a free loopback port under a temporary
//! directory (`initdb` + `pg_ctl`, from the Debian `postgresql` package that `make test`
//! installs), so the service's several-replica store is tested against the real database.
//! Stopped and deleted on drop.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A running PostgreSQL cluster owned by a test.
pub struct Postgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    as_postgres: bool,
}

/// Where `name` (initdb, pg_ctl) is: PATH first, else Debian's versioned directory.
fn find(name: &str) -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(name))
            .find(|p| p.is_file())
    });
    on_path.or_else(|| {
        let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(|e| e.ok())
            .map(|e| e.path().join("bin").join(name))
            .filter(|p| p.is_file())
            .collect();
        found.sort();
        found.pop()
    })
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

impl Postgres {
    /// initdb and start a cluster; trust auth for user `meshguard` on 127.0.0.1 only.
    pub fn start() -> Result<Postgres, String> {
        let initdb = find("initdb").ok_or("initdb not found: install postgresql (make test)")?;
        let bin = initdb
            .parent()
            .map(Path::to_path_buf)
            .ok_or("initdb has no directory")?;
        let dir = tempfile::Builder::new()
            .prefix("mg-pg")
            .tempdir_in("/tmp")
            .map_err(|e| e.to_string())?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| e.to_string())?
            .port();
        // PostgreSQL refuses to run as root: run it as the package's `postgres` user.
        let as_postgres = is_root();
        let pg = Postgres {
            dir,
            bin,
            port,
            as_postgres,
        };
        if as_postgres {
            pg.run(
                Command::new("chown")
                    .arg("postgres:postgres")
                    .arg(pg.dir.path()),
            )?;
        }
        let data = pg.data();
        pg.run(
            pg.tool("initdb")
                .args([
                    "-U",
                    "meshguard",
                    "--auth=trust",
                    "-E",
                    "UTF8",
                    "--no-sync",
                    "-D",
                ])
                .arg(&data),
        )?;
        pg.start_server()?;
        Ok(pg)
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn tool(&self, name: &str) -> Command {
        let path = self.bin.join(name);
        if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            Command::new(path)
        }
    }

    fn run(&self, cmd: &mut Command) -> Result<(), String> {
        let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
        if out.status.success() {
            return Ok(());
        }
        Err(format!(
            "{cmd:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }

    fn start_server(&self) -> Result<(), String> {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("postgres.log");
        self.run(
            self.tool("pg_ctl")
                .arg("-D")
                .arg(self.data())
                .args(["-o", &options, "-l"])
                .arg(&log)
                .args(["-w", "-t", "30", "start"]),
        )
    }

    /// Stop the server (fast shutdown: sessions ended, data kept).
    pub fn stop(&self) -> Result<(), String> {
        self.run(
            self.tool("pg_ctl")
                .arg("-D")
                .arg(self.data())
                .args(["-m", "fast", "-w", "stop"]),
        )
    }

    /// Stop and start the server again on the same port and data.
    pub fn restart(&self) -> Result<(), String> {
        self.stop()?;
        self.start_server()
    }

    /// Connection URL.
    pub fn url(&self) -> String {
        format!("postgres://meshguard@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = self.run(self.tool("pg_ctl").arg("-D").arg(self.data()).args([
            "-m",
            "immediate",
            "-w",
            "stop",
        ]));
    }
}
