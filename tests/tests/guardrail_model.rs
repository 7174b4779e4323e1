//! The committed n-gram model (filters/core/src/detect/ngram_model.bin) is exactly what the
//! trainer makes of the corpus with the core's feature extraction: changing either without
//! retraining (`make train-guardrail`) fails here instead of silently skewing detection.

use std::process::Command;

#[test]
fn committed_model_is_what_the_trainer_writes() {
    let out = Command::new(env!("CARGO_BIN_EXE_train_guardrail"))
        .arg("--check")
        .output()
        .expect("trainer runs");
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    assert!(log.contains("is what this trainer writes"), "{log}");
}
