//! The contract suite against the AWS adapters, on moto's server.

ocpp_bulk_tests::contract_suite!(ocpp_bulk_tests::aws::ports("contract", &ocpp_bulk_tests::harness::fleet(3)).await);
