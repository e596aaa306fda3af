"""The Lambda Runtime API (/2018-06-01/runtime/*), served by Ember for each environment."""
