"""Read models for the supervisors' dashboard (监督考核驾驶舱) and hot spots, in SQL."""
