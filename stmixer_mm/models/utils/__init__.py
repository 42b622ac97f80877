"""Helpers of the models: plain argument tests (:mod:`.checks`), settings
an owner fills into its parts (:mod:`.consistency`), host data on a device
(:mod:`.host_data`)."""
