"""The audit's core: the request, the runner, results and findings, errors, policy, the gate,
comparison with a baseline and serialization. It knows no domain: stages and checks plug in."""
