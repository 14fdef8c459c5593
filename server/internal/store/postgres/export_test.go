package postgres

// PermanentCode is permanentCode, for the tests.
var PermanentCode = permanentCode
