"""The project as its first release laid out its database: the "dailies" platform app and
the first migrations of generation and storyboards, kept verbatim (upload-path functions
and the user manager aside) so a test can build that database and migrate it forward."""
