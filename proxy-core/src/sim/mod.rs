//! A simulated Kubernetes API server for `kubewitness demo` and the tests.
