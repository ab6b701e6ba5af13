"""What a contract check reports: one Finding per breach, and a Report that counts the checks."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Finding:
    """One breach of the platform contract: where, which check, what it asks, what was found."""

    file: str
    check: str
    contract: str
    found: str

    def line(self) -> str:
        return f"{self.file}: {self.check}: the contract says {self.contract}; found {self.found}."


@dataclass
class Report:
    """Findings of one run, and how many checks ran (so a clean result says what it covered)."""

    findings: list[Finding] = field(default_factory=list)
    checks: int = 0

    def expect(self, ok: bool, file: str, check: str, contract: str, found: str) -> bool:
        """Count one check; record a finding when `ok` is false. Returns `ok`."""
        self.checks += 1
        if not ok:
            self.findings.append(Finding(file, check, contract, found))
        return ok

    def as_json(self) -> dict[str, Any]:
        return {
            "checks": self.checks,
            "findings": [asdict(finding) for finding in self.findings],
        }
