//! The Google Cloud emulators preinstalled with the Google Cloud SDK, on free ports.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running emulator, stopped when dropped.
#[derive(Debug)]
pub struct Emulator {
    child: Child,
    port: u16,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn binary(var: &str, default: &str, component: &str) -> PathBuf {
    if let Ok(p) = std::env::var(var) {
        return p.into();
    }
    let path = PathBuf::from(default);
    assert!(
        path.exists(),
        "{component} is not installed at {default}: these tests run against it. \
         Install the Google Cloud SDK component, or set {var}."
    );
    path
}

impl Emulator {
    fn spawn(program: PathBuf, args: Vec<String>, port: u16) -> Emulator {
        let child = Command::new(program)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the emulator");
        let deadline = Instant::now() + Duration::from_secs(60);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "the emulator did not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(25));
        }
        Emulator { child, port }
    }

    /// The Cloud Spanner emulator (gRPC).
    #[must_use]
    pub fn spanner() -> Emulator {
        let program = binary(
            "SPANNER_EMULATOR_BIN",
            "/usr/lib/google-cloud-sdk/bin/cloud_spanner_emulator/emulator_main",
            "The Cloud Spanner emulator",
        );
        let port = free_port();
        Self::spawn(
            program,
            vec!["--host_port".into(), format!("127.0.0.1:{port}")],
            port,
        )
    }

    /// The Pub/Sub emulator.
    #[must_use]
    pub fn pubsub() -> Emulator {
        let program = binary(
            "PUBSUB_EMULATOR_BIN",
            "/usr/lib/google-cloud-sdk/platform/pubsub-emulator/bin/cloud-pubsub-emulator",
            "The Pub/Sub emulator",
        );
        let port = free_port();
        Self::spawn(
            program,
            vec!["--host=127.0.0.1".into(), format!("--port={port}")],
            port,
        )
    }

    /// `127.0.0.1:PORT`, what `SPANNER_EMULATOR_HOST` / `PUBSUB_EMULATOR_HOST` hold.
    #[must_use]
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        // The Pub/Sub emulator is a Java process under a shell script: end the whole group.
        let _ = Command::new("pkill")
            .args(["-P", &self.child.id().to_string()])
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
