"""Local state under CHAINTAP_HOME: checkpoints and secrets."""
