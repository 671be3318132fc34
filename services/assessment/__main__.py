from libs.platform.runtime import main
from services.assessment.service import definition

main(definition)
