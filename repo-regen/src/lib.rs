//! kkoji-repo-regen (being written).
