"""Benchmarks: env throughput, peers on the same work, training throughput (``twingym bench``).

Each module returns a list of records (``metric``, ``unit``, ``ours``, ``peer_name``, ``peer``,
``ratio`` with higher better for twingym, ``batch``) and can be run as ``python -m twingym.bench.<name>``.
"""
