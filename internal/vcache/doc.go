// Package vcache keeps values derived from stored resources (a compiled
// protocol, a parsed ConceptMap, an expanded value set, a compiled
// lexicon), each derived once per stored version: an entry checked
// against the store recently is used as it is, an older one is checked by
// reading the resource's current version, and derived again only when that
// version changed.
package vcache
