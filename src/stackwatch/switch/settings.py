"""The ``[switch]`` section of the configuration: where the inventory is, how long to wait."""

from __future__ import annotations

from stackwatch.core.config import ConfigError
from stackwatch.core.record import dataclass


@dataclass(frozen=True)
class SwitchSettings:
    """Switches read over SNMP and what the hypervisors behind them need."""

    inventory: str | None = None  # inventory YAML of switches and hypervisors (verify, checks)
    timeout: float = 10.0  # seconds for each device; all devices are read at the same time
    max_repetitions: int = 10  # rows of each column asked for in one SNMP GETBULK request
    state_dir: str | None = None  # where `switch ports` keeps counters (default: the checks')
    lldpctl_dir: str | None = None  # folder of HOST.json (`lldpctl -f json` of each hypervisor)

    def validate(self, where: str) -> None:
        if not 0 < self.timeout <= 600:  # also refuses nan and inf
            raise ConfigError(f"{where}.timeout: must be above 0 and at most 600 seconds")
        if not 1 <= self.max_repetitions <= 200:
            raise ConfigError(f"{where}.max_repetitions: must be 1-200")
