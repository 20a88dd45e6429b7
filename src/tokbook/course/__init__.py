"""The course machinery: turning solutions/ into nbgrader exercises, and grading them."""
