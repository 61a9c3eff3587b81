"""rdapsim: a simulated RDAP service (RFC 9083 domain answers over plain HTTP on loopback) for
tests, the demo and benchmarks. Dev/test tooling only: product code never imports it."""
