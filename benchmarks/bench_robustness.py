"""The robustness stage beside the explanation stage on the bundled Adult example.

Runs ``rai-audit run examples/adult/model.pt examples/adult/test.csv.gz --target income
--sensitive sex,race`` as the API does, with three actionable columns for recourse
(hours-per-week, education-num and capital-gain may increase), and prints the wall time of
each stage and its parts (benchmarks/stage_profile.py: the recourse grid search, and the
gradient search the bundled torch model also gets), the robustness stage's model rows, and the
audit's total.

    python benchmarks/bench_robustness.py [--repeat 3] [--n-boot 1000]
"""

from __future__ import annotations

import argparse
import time

from benchkit import MODEL, SENSITIVE, TARGET, TEST_CSV, machine_line, print_table
from stage_profile import StageProfile

from audit import AuditRequest, run_audit
from audit.core.registry import CHECKS

ACTIONABLE = {"hours-per-week": "increase", "education-num": "increase", "capital-gain": "increase"}


def audit_once(n_boot: int) -> tuple[float, StageProfile]:
    profile = StageProfile()
    request = AuditRequest(
        data=TEST_CSV,
        model=MODEL,
        target=TARGET,
        sensitive=SENSITIVE,
        search_config=False,
        policy_overrides={"n_boot": n_boot, "robustness": {"actionable": ACTIONABLE}},
        threads=1,
    )
    with profile.measuring():
        start = time.perf_counter()
        run_audit(request, checks=profile.checks(CHECKS))
        total = time.perf_counter() - start
    return total, profile


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="audits run; the fastest is shown")
    parser.add_argument("--n-boot", type=int, default=1000, help="bootstrap replicates")
    arguments = parser.parse_args()
    print(machine_line())
    runs = [audit_once(arguments.n_boot) for _ in range(arguments.repeat)]
    total, profile = min(runs, key=lambda run: run[0])
    wanted = (
        "explanation stage",
        "robustness stage",
        "perturbations",
        "recourse grid search",
        "recourse gradient search",
    )
    rows = [row for row in profile.rows(total) if row[0].strip() in wanted]
    rows.append(["whole audit", f"{total:.3f}", "100%", "", ""])
    print_table(
        "Adult example, fastest audit",
        ["part", "seconds", "share", "model rows", "outside the model"],
        rows,
    )


if __name__ == "__main__":
    main()
