"""Everything tests share: test doubles, factories, the in-process gRPC harness, contract suites."""
