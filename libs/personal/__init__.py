"""Personal data at rest and in transit: fields sealed under a key per person, so that
destroying the key erases the person from every copy (crypto-shredding, docs/architecture.md).
"""
