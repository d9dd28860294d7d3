package db

// WindowStart exposes windowStart to the plan checks of history_test.go.
var WindowStart = windowStart

// EmptyCursor is a window read's cursor before its first page.
var EmptyCursor = cursor{}
