//! The contract suite against the AWS adapters, on moto's server.

e2e::contract_suite!(e2e::aws::ports("contract", &e2e::harness::fleet(3)).await);
