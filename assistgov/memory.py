"""A command's own peak memory, for `-v 2` reports (and the bench that reads them)."""

import resource

REPORT = "peak memory {:.1f} MB"
PATTERN = r"peak memory ([0-9.]+) MB"


def peak_memory_mb() -> float:
    """This process's peak resident memory since it started its program (Linux: VmHWM;
    elsewhere getrusage, which also counts the process it was forked from)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def report() -> str:
    return REPORT.format(peak_memory_mb())
