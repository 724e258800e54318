export function renderReadmeSection(): string { return ""; }
