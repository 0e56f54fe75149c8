export function initAll () {}
