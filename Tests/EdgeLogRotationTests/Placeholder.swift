import Testing
@Test func rotationPlaceholder() {}
