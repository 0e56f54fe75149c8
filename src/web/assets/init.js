// Marks the page as able to run GOV.UK Frontend's scripts (the styles then hide what they
// replace) and starts them. A module, so browsers too old for it keep the plain pages.
import { initAll } from '/assets/govuk.js'

document.body.classList.add('js-enabled', 'govuk-frontend-supported')
initAll()
