//! kkoji-ops: the farm's cron checks. `check-disk` replaces the seed's daily free-space
//! cron job: every configured volume over a threshold (default 90%) is reported, the exit
//! status is non-zero, and with an SMTP relay configured the report is mailed.

pub mod config;
pub mod disk;
pub mod mail;
