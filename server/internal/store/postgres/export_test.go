package postgres

// PermanentCode is permanentCode, for the tests.
var PermanentCode = permanentCode

// SchemaVersions is the number of schema versions, for the tests.
var SchemaVersions = len(migrations)
