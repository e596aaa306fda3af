"""Ember: a self-hostable serverless compute platform that speaks the AWS Lambda API."""

__version__ = "0.1.0"
