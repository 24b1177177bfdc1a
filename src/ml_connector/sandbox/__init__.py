"""Faithful fakes of Salesforce (REST, OAuth, Pub/Sub) and Acumatica (contract-based REST).

Used by the tests, ``ml-connector demo`` and ``ml-connector sandbox``. The connector's runtime code
never imports this package.
"""
