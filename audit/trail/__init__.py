"""The audit trail: writing entries, the hash chain and its published checkpoints, the
database's guard, verification, signed exports, retention and legal holds, and the jobs that
keep it; every other package stands on it, and it imports none of them."""
