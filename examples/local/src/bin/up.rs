//! `make up` / `make down`: keep the local mesh running in the background, and stop it.
//!
//! ```text
//! meshguard-up          start the mesh (two gateway replicas, Chroma), print entry points and
//!                       tokens, run until SIGTERM/SIGINT
//! meshguard-up status   exit 0 when a mesh runs from this directory (prints its pid)
//! meshguard-up down     stop it: SIGTERM, then SIGKILL for any process it left; remove its files
//! ```
//!
//! Everything lives in the mesh directory (`MESHGUARD_MESH_DIR`, default `.mesh`): the pid
//! file that refuses a second mesh, and `tmp/`, the `TMPDIR` of the mesh process, holding
//! every socket, certificate, key and Envoy configuration. `down` removes `tmp/` whatever
//! state the mesh was in (also while it was still starting).

use meshguard_local::up::{self, MeshDir};
use std::process::ExitCode;

fn main() -> ExitCode {
    let dir = match MeshDir::from_env() {
        Ok(dir) => dir,
        Err(e) => {
            eprintln!("meshguard-up: {e}");
            return ExitCode::from(2);
        }
    };
    match std::env::args().nth(1).as_deref() {
        None | Some("up") => up::run(&dir),
        Some("status") => match dir.running() {
            Some(pid) => {
                println!(
                    "a local mesh is running (pid {pid}, files in {})",
                    dir.path().display()
                );
                ExitCode::SUCCESS
            }
            None => {
                println!("no local mesh is running");
                ExitCode::from(1)
            }
        },
        Some("down") => up::down(&dir),
        Some(other) => {
            eprintln!("meshguard-up: unknown command {other:?} (up, status, down)");
            ExitCode::from(2)
        }
    }
}
